"""The rotation's rules, the book plan they produce, and the engines that execute it."""
