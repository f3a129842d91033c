"""Job trees: a directory of `qsub.{id}` scripts and `qsub.dependency.{id}` files (the jobauto layout), read,
checked and turned into one batch of jobs (`layout`, `placeholders`, `specs`); pure, read by `tui/cli/` too."""
