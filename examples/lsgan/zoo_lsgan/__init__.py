"""zoo-lsgan: the `lsgan` plugin for zoo (an example of a third-party plugin)."""
