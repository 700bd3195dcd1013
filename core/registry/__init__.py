"""What is installed: plugin implementations (``plugins``) and the model files they load (``models``)."""
