"""The course's tests. A regular package (not a namespace one), so that `tests` means this folder even where an
installed package adds another `tests` to sys.path: IPython 7 (Colab's) appends IPython/extensions, which holds one."""
