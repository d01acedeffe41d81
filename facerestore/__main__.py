"""``python -m facerestore`` runs the command-line tool."""

from facerestore.cli import main

if __name__ == "__main__":
    main()
