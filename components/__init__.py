"""The program's building blocks: the plan, then one package per capability."""
