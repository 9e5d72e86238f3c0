"""Sphinx configuration of the course website (`make site`, scripts/build_site.py).

Sphinx + MyST-NB render the executed chapters from their stored outputs (never executed here);
the theme is Furo; search is Sphinx's own (a JavaScript index in the built site); math is MathJax
2.7 served from the site itself (the copy in the jupyter-server-mathjax wheel, copied into
_static/mathjax by the build script), so the built site needs no network at all.
"""

project = "Pretrained language models, from the ground up"
author = "The course maintainers"
copyright = "the course maintainers, MIT licence"
html_title = project
language = "en"

extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints"]

# The notebooks are committed executed: render their stored outputs, never run a kernel.
nb_execution_mode = "off"
# $...$, $$...$$ and \begin{align} in markdown cells and in text/markdown outputs.
myst_enable_extensions = ["dollarmath", "amsmath"]
nb_render_markdown_format = "myst"
myst_heading_anchors = 3
# A stored ipywidget needs a kernel (and, in myst-nb's default, require.js from a CDN): show the
# PNG snapshot every widget output carries instead, and load no widget JavaScript.
nb_ipywidgets_js = {}
nb_mime_priority_overrides = [
    ("html", "application/vnd.jupyter.widget-view+json", None),
    ("html", "application/vnd.jupyter.widget-state+json", None),
]

html_theme = "furo"
html_static_path = ["_static"]
html_favicon = "favicon.svg"  # else the browser asks for /favicon.ico (a 404)
html_copy_source = False  # no copies of the notebooks beside the pages
html_show_sourcelink = False
html_last_updated_fmt = None

# MathJax 2.7 from _static/mathjax (jupyter-server-mathjax ships its STIX-Web fonts only).
# myst-parser writes MathJax 3/4 settings unless told not to; MathJax 2 is configured here:
# process the math spans Sphinx writes (class "math") inside MyST's "mathjax_ignore" sections.
myst_update_mathjax = False
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
mathjax2_config = {
    "tex2jax": {
        "processClass": "math|tex2jax_process|mathjax_process|output_area",
        "ignoreClass": "tex2jax_ignore|mathjax_ignore|document",
    },
    "HTML-CSS": {
        "availableFonts": [],
        "imageFont": None,
        "preferredFont": None,
        "webFont": "STIX-Web",
        "font": "STIX-Web",
        # MathJax 2 declares a blank test font at url('about:blank'), which Chromium refuses
        # with a console error; a local() source fails the same way, silently.
        "styles": {"@font-face": {"font-family": "MathJax_Blank", "src": "local('MathJax_Blank')"}},
    },
    # The hidden MathML copy MathJax adds for screen readers (AssistiveMML) takes styles from
    # the NativeMML output, whose @font-face rules point at MathJax's TeX fonts, which the wheel
    # does not ship (404s): local() sources instead, so the browser's own fonts are used.
    "NativeMML": {
        "styles": {
            f"@font-face /*{n}*/": {"src": f"local('{font}')"}
            for n, font in enumerate(
                ["MathJax_Caligraphic"] * 2
                + ["MathJax_AMS", "MathJax_Script"]
                + ["MathJax_Fraktur"] * 2,
                start=1,
            )
        }
    },
    "menuSettings": {"zoom": "None"},
    "showMathMenu": False,
    "messageStyle": "none",
}
