"""The registry of identity types: one entry per credential type, each declaring its provider,
its ``[identities.NAME]`` table (keys, checks, defaults, paths, where its secret lives), how the
table builds the provider, and its command-line flags (a one-off identity, or the fields they
change on a configured one).

The configuration (:mod:`client_sdk._config.parse`, ``build``, ``effective``, ``model``) and the
CLI (:mod:`client_sdk._cli.identity`, ``configured_identity``) read only this registry. A new
credential type is a provider module in ``providers/`` and a module here with its entry, listed in
:data:`client_sdk._identity_types.registry.REGISTRY`.
"""
