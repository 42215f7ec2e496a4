"""Services behind the web pages: operations sent once, board screens."""
