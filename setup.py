"""Build shim: pyproject.toml holds the whole configuration; this file only fixes editable installs.

setuptools' editable wheel (``pip install -e .``, as in requirements.txt) asks the distribution
``has_data()``, a method it does not have (it is ``has_data_files``), so ``[tool.setuptools.data-files]``
is skipped there: without this line the Jupyter server config that enables the post-save hook
(``jupyter-config/course-notebook-save.json``, see ``course_utils.notebook_save``) would reach only
non-editable installs. Harmless once setuptools asks the right name.
"""

from setuptools import setup
from setuptools.dist import Distribution

if not hasattr(Distribution, "has_data"):
    Distribution.has_data = Distribution.has_data_files
setup()
