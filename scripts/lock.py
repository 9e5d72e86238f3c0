"""Print the pinned, tested environment (requirements/constraints.txt) from the current .venv.

Run by `make lock` after a change to pyproject.toml's dependencies; review the diff before you
commit it. coursekit itself and the packages the Makefile removes are left out.
"""

from importlib import metadata

LEFT_OUT = {"coursekit", "rfc3987-syntax", "lark", "pip", "setuptools", "wheel"}

HEADER = """\
# The tested environment: every package pinned (pip constraints). Used by the Makefile:
#   pip install -c requirements/constraints.txt -e '.[lab,test,browser]'
# torch==2.13.0 is the CPU wheel on the maintainers' machines; pyproject.toml keeps open ranges
# so Colab and GPU users get their own torch. Regenerate after a change with 'make lock'.
# rfc3987-syntax and lark are left out on purpose (see the Makefile)."""


def main() -> None:
    pins = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name.lower().replace("_", "-") in LEFT_OUT:
            continue
        pins[name.lower()] = f"{name}=={dist.version.split('+')[0]}"
    print(HEADER)
    for key in sorted(pins):
        print(pins[key])


if __name__ == "__main__":
    main()
