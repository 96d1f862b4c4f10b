"""Workspace runtimes: one small interface (`base.Runtime`), one implementation per module,
registered under the `corral.runtimes` entry-point group and chosen by name in node settings."""
