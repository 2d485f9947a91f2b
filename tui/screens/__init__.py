"""One screen per file; each has a .tcss beside it with its rules nested under the screen type."""
