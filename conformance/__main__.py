"""``python -m conformance`` is ``lstm-conformance``."""

from conformance.cli import console_main

if __name__ == "__main__":
    console_main()
