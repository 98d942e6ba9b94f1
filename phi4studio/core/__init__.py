"""Qt-free core of Phi-4 Studio: jobs, workspace, settings and the feature services.

Nothing under this package imports PySide6, qasync or phi4studio.ui (an import-linter contract
enforces it), and heavy ML libraries are imported inside functions only.
"""
