"""Quality metrics: classifier accuracy (adaptation), ..."""
