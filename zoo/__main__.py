# `python -m zoo ...` and `accelerate launch -m zoo ...` both land here.
from zoo.cli import main

main()
