"""Put this folder on PYTHONPATH to run Python as if resnet_lab were not installed.

A Jupyter kernel started this way is what a grading environment without the course's
package gives (tests/test_grade.py, tests/test_grading.py): its notebooks must not be
scored as zeros in silence.
"""

import sys


class NoResnetLab:
    def find_spec(self, name, path=None, target=None):
        if name == "resnet_lab" or name.startswith("resnet_lab."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, NoResnetLab())
