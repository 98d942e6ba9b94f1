"""The Datasets tab."""
