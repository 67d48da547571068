"""The engines that execute a book plan: backtrader (the reference) and the vectorised one."""
