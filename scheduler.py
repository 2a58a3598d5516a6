"""The scheduler process: ``python scheduler.py``. The jobs live in ``hub.scheduling``."""

from hub.scheduling import main

if __name__ == "__main__":
    main()
