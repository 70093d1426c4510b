"""One module per role. Nodes act and record; they never judge."""
