"""The configuration file (TOML): peers, identities and policies by name, never a secret.

Read from an explicit path, else ``$DICOM_IDENTITY_CONFIG``, else the user's configuration folder
(``~/.config/dicom-identity/config.toml`` on Linux). Every setting is taken from an argument, else
the environment, else the file, else its default (:data:`SETTINGS`), and knows where it came from.

    config = load_config()
    with config.client("archive").associate() as session:
        session.echo()
"""
