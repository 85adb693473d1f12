"""Pull: streams as data, the nextLink paginator, the Graph, Dataverse and F&O collectors.

The entry point is `license_analyzer.sources.collect.collect`.
"""
