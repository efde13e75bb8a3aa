"""The notebook layer: the ``%%batchrun`` magic, the widget form, names.

Imports IPython and ipywidgets; nothing below it does.
"""
