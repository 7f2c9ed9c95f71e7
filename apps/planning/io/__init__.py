"""Import and export of pools and cloud accounts (SPEC.md section 7.2), as pure modules.

``readers`` turns an uploaded file into records, ``imports`` turns pool records into plan
operations with an error per bad row, ``writers`` writes pools and accounts in every
export format. None of them imports Django; ``apps.planning.imports`` and
``apps.planning.pool_exports`` connect them to the database.
"""
