"""One module per family; each registers its networks with cnnzoo.registry on import."""
