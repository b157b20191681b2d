"""``python -m idseg`` runs the command line."""

from idseg.cli import main

if __name__ == "__main__":
    main()
