"""Training the project's own plate recogniser (`platestream models train`): data, model, loop, export."""
