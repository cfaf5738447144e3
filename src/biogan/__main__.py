"""``python -m biogan`` runs the command line (what ``torchrun -m biogan train ...`` starts on each rank)."""

from biogan.cli import main

if __name__ == "__main__":
    main()
