"""The periodic reform report: assembled from records (pure), rendered (DOCX, HTML, Markdown), delivered."""
