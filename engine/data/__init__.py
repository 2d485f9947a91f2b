"""Datasets: reading, formats, chat templates, tokenizing and collating (the one data path)."""
