"""matrix.html (issue 18 item 8): a self-contained coloured table whose marked cells link to their case and
diagnosis; rendered here from the published matrix.json (no TensorFlow) and from hostile names."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from conformance.report import render_matrix_html
from tests.test_html_readable import _parse

PUBLISHED = Path(__file__).resolve().parent.parent / "reports" / "builtin" / "matrix.json"


def _published() -> dict:
    return json.loads(PUBLISHED.read_text())


def test_every_failing_cell_is_coloured_and_links_to_its_case_and_diagnosis():
    data = _published()
    page = render_matrix_html(data)
    parsed = _parse(page)
    rows = parsed.rows["matrix"]
    assert [r[0] for r in rows[1:]] == [t["name"] for t in data["targets"]]
    assert rows[0][1:] == [c["title"] for c in data["columns"]]
    failing = [(t, c, cell) for t, row in data["cells"].items() for c, cell in row.items()
               if cell["status"] == "nonconformant"]
    assert failing, "the published matrix has nonconformant cells"
    for target, column, cell in failing:
        anchor = "cell-" + f"{target}--{column}".replace(".", "_")
        assert f'<a href="#{anchor}">' in page, f"{target} x {column}: no link from the table"
        section = page.split(f'id="{anchor}"', 1)[1].split("</section>", 1)[0]
        assert cell["diagnosis"].split(":")[0] in section if cell.get("diagnosis") else "no known variant" in section
        assert f'href="{cell["case"]}"' in section and cell["case"].replace(".npz", ".json") in section
        assert (PUBLISHED.parent / cell["case"]).exists(), f"{cell['case']} is linked but not on disk"
    assert page.count('<td class="cell-fail"') == len(failing)
    assert page.count('<td class="cell-pass"') == sum(c["status"] == "conformant" for r in data["cells"].values()
                                                  for c in r.values())


def test_the_page_is_self_contained_and_lists_tolerances_of_the_dtypes_it_ran():
    data = _published()
    for row in data["cells"].values():  # a run in float32 only
        for cell in row.values():
            if cell.get("dtype"):
                cell["dtype"] = "float32"
    page = render_matrix_html(data)
    assert "default-src 'none'" in page and "<script" not in page and "http://" not in page
    assert "https://" not in page
    facts = _parse(page).rows["facts"]
    assert dict((r[0], r[1]) for r in facts)["tolerances"] == "float32: atol 2e-06, rtol 2e-06"


def test_hostile_names_and_messages_stay_text():
    data = _published()
    evil = '<script>alert(1)</script>"'
    target = data["targets"][0]
    old = target["name"]
    target["name"] = evil
    data["cells"][evil] = copy.deepcopy(data["cells"].pop(old))
    first = next(iter(data["cells"][evil]))
    data["cells"][evil][first].update(status="nonconformant", message=evil, diagnosis=evil,
                                      case="javascript:alert(1)//x.npz")
    page = render_matrix_html(data)
    assert "<script>" not in page and 'href="javascript:' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
