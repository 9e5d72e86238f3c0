"""Regenerate the README's syllabus table from coursekit/syllabus.py and the chapters present."""

import re
from pathlib import Path

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
readme.write_text(new, encoding="utf-8")
print("README syllabus updated" if new != text else "README syllabus already current")
