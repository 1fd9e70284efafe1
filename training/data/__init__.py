"""Source data: the contract, validation, derived sources, Feast joins and model inputs."""
