"""tunewiz's Textual wizard. Never imports torch, transformers, trl, peft or datasets at module scope:
slow work (model inspection, dataset scans, tokenizing) runs in thread workers that import them."""
