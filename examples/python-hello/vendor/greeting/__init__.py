# Stands for a vendored pure-Python dependency (pip install --target vendor ...): vendor/ is on
# PYTHONPATH in the image.


def greet(name):
    return f"hello, {name}"
