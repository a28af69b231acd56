"""Built-in rotators, one module per target kind. See rotators/README.md to write your own."""
