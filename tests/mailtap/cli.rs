//! The command line: formats, exit codes, error messages.
