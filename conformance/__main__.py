"""``python -m conformance`` is ``lstm-conformance``."""

from conformance._cli import console_main

if __name__ == "__main__":
    console_main()
