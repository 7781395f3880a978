"""``python -m snnreduce``: the same command line as the ``snnreduce`` script."""

from .cli import main

if __name__ == "__main__":
    main()
