"""Table declarations, apart from the code that fills them."""
