"""The subcommands of `qke` (scripts/cli.py), one module each.

Every command module offers

* ``add_parser(subparsers)`` – register the subcommand and its options on the `qke` parser;
* ``execute(args, comm, say) -> int`` – do it: `args` the parsed command line, `comm` the
  lattice.parallel communicator, `say` print on rank 0 (a no-op on the others); returns the exit
  status. Errors are raised (lattice.deck.DeckError, lattice.runfolder.FolderError, anything else
  for a failed run) and reported by scripts.cli.main.

The modules only parse the command line and call the code that does the work (lattice.launch and
lattice.driver for a run, scripts/bench*.py, scripts/scan.py, scripts/fig1_map.py,
scripts/pb_tables.py, scripts/figures.py); they import it when the command runs, so that
`qke --help` stays quick.
"""
