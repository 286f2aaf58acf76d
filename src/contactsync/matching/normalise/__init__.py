"""Field normalisers: turn what people type into forms that compare equal when they mean the same thing.

Each module handles one kind of field and leans on the library that knows that field (cleanco's legal-form
data, python-stdnum, phonenumbers, anyascii). They are pure functions of their inputs, so a record is
normalised once and the result can be cached or persisted.
"""
