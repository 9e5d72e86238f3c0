"""Regenerate the README's syllabus table from coursekit/syllabus.py and the chapters present, and
its glossary table from coursekit/glossary.py."""

import re
from pathlib import Path

from coursekit.glossary import glossary_table
from coursekit.syllabus import chapter_table

REPO = Path(__file__).resolve().parent.parent
readme = REPO / "README.md"
text = readme.read_text(encoding="utf-8")
new = re.sub(
    r"(<!-- syllabus:begin[^>]*-->\n).*?(\n<!-- syllabus:end -->)",
    lambda m: m.group(1) + chapter_table(REPO / "chapters") + m.group(2),
    text,
    flags=re.DOTALL,
)
new = re.sub(
    r"(<!-- glossary:begin[^>]*-->\n).*?(<!-- glossary:end -->)",
    lambda m: m.group(1) + glossary_table() + "\n" + m.group(2),
    new,
    flags=re.DOTALL,
)
readme.write_text(new, encoding="utf-8")
print("README syllabus and glossary updated" if new != text else "README already current")
