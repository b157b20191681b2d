"""Join prepared datasets into one folder of symbolic links, their groups kept apart.

Usage: python recipes/link_datasets.py OUT PREFIX=SRC [PREFIX=SRC ...] [--source TEXT]

Each ``SRC/images/*`` and ``SRC/masks/*`` is linked as ``OUT/<sub>/<PREFIX><name>``; the groups of
``SRC/dataset.json`` are renamed the same way, so a split by group never mixes the sources' scenes.
The last source's ``dataset.json`` gives the other keys (classes). Used by the recipes to train on
the scenes of two seeds at once.
"""

import argparse
import json
import os


def main() -> None:
    """Link the sources into OUT and write its dataset.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("sources", nargs="+", help="PREFIX=SRC")
    parser.add_argument("--source", default=None, help="The joined dataset's 'source' text.")
    args = parser.parse_args()
    groups: dict[str, str] = {}
    meta: dict = {}
    for spec in args.sources:
        prefix, src = spec.split("=", 1)
        with open(f"{src}/dataset.json") as f:
            meta = json.load(f)
        for sub in ("images", "masks"):
            os.makedirs(f"{args.out}/{sub}", exist_ok=True)
            for name in sorted(os.listdir(f"{src}/{sub}")):
                link = f"{args.out}/{sub}/{prefix}{name}"
                if not os.path.lexists(link):
                    os.symlink(os.path.abspath(f"{src}/{sub}/{name}"), link)
        groups.update({prefix + k: v for k, v in meta["groups"].items()})
    meta.update(groups=groups, source=args.source or " + ".join(args.sources))
    with open(f"{args.out}/dataset.json", "w") as f:
        json.dump(meta, f)


if __name__ == "__main__":
    main()
