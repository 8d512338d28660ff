"""The differential suite: scenarios written once against the public API, run by the original and by ours."""
