"""`python -m rollguard.cli`: the same commands as the `rollguard` executable."""

from rollguard.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
