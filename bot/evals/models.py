"""The names `aios eval --model` gives the scripted models and the default route.

Kept apart, with no imports, so that parsing `aios` arguments loads no task machinery and the
run's modules need not import the command.
"""

SCRIPTED = ("scripted", "scripted-wrong")
"""The scripted models (`bot.evals.task.SCRIPTS` names their files)."""
DEFAULT_ROUTE = "default"
"""`--config` without `--model`: the real model on AIOS's default routes and the file's."""
