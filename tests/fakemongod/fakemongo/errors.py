"""Error codes, error documents and mongod's error-label computation."""

CODE_NAMES = {
    1: "InternalError", 2: "BadValue", 4: "NoSuchKey", 6: "HostUnreachable", 7: "HostNotFound",
    8: "UnknownError", 9: "FailedToParse", 11: "UserNotFound", 13: "Unauthorized",
    14: "TypeMismatch", 16: "IllegalOperation", 20: "IllegalOperation", 22: "InvalidBSON",
    23: "AlreadyInitialized", 24: "LockTimeout", 26: "NamespaceNotFound", 27: "IndexNotFound",
    40: "ConflictingUpdateOperators", 43: "CursorNotFound", 46: "LockBusy",
    48: "NamespaceExists", 50: "MaxTimeMSExpired", 52: "DollarPrefixedFieldName",
    53: "InvalidIdField", 54: "NotSingleValueField", 56: "EmptyFieldName", 57: "DotsInFieldName",
    59: "CommandNotFound", 61: "ShardKeyNotFound", 64: "WriteConcernFailed",
    66: "ImmutableField", 67: "CannotCreateIndex", 68: "IndexAlreadyExists",
    72: "InvalidOptions", 73: "InvalidNamespace", 79: "UnknownReplWriteConcern",
    85: "IndexOptionsConflict", 86: "IndexKeySpecsConflict", 89: "NetworkTimeout",
    91: "ShutdownInProgress", 96: "OperationFailed", 100: "UnsatisfiableWriteConcern",
    101: "OutdatedClient", 112: "WriteConflict", 115: "CommandNotSupported",
    117: "ConflictingOperationInProgress", 125: "CommandFailed", 133: "FailedToSatisfyReadPreference",
    134: "ReadConcernMajorityNotAvailableYet", 148: "ReadConcernMajorityNotEnabled",
    150: "StaleEpoch", 166: "CommandNotSupportedOnView", 171: "CannotIndexParallelArrays",
    189: "PrimarySteppedDown", 197: "InvalidIndexSpecificationOption",
    217: "IncompleteTransactionHistory", 225: "TransactionTooOld", 239: "SnapshotTooOld",
    244: "TransactionAborted", 246: "SnapshotUnavailable", 249: "StaleDbVersion",
    250: "StaleChunkHistory", 251: "NoSuchTransaction", 256: "TransactionCommitted",
    257: "TransactionTooLarge", 262: "ExceededTimeLimit", 263: "OperationNotSupportedInTransaction",
    267: "PreparedTransactionInProgress", 272: "MigrationConflict", 290: "TransactionExceededLifetimeLimitSeconds",
    352: "UnsupportedOpQueryCommand", 358: "InternalTransactionNotSupported",
    9001: "SocketException", 10058: "LegacyNotPrimary", 10107: "NotWritablePrimary",
    10334: "BSONObjectTooLarge", 11000: "DuplicateKey", 11600: "InterruptedAtShutdown",
    11601: "Interrupted", 11602: "InterruptedDueToReplStateChange", 13297: "DatabaseDifferCase",
    13388: "StaleConfig", 13435: "NotPrimaryNoSecondaryOk", 13436: "NotPrimaryOrSecondary",
    16755: "Location16755", 28769: "Location28769", 31253: "Location31253", 31254: "Location31254",
    40324: "Location40324", 40414: "Location40414", 40415: "Location40415",
    40571: "Location40571", 50768: "Location50768", 50911: "Location50911",
}


def code_name(code):
    return CODE_NAMES.get(code, "Location%d" % code)


class CommandError(Exception):
    """A command failure that becomes a top-level {ok:0} reply."""

    def __init__(self, code, errmsg, extra=None, labels=None):
        super().__init__(errmsg)
        self.code = int(code)
        self.errmsg = errmsg
        self.extra = extra or {}
        self.labels = labels  # explicit labels (rare); None = compute

    def to_doc(self):
        d = {"ok": 0.0, "errmsg": self.errmsg, "code": self.code, "codeName": code_name(self.code)}
        d.update(self.extra)
        return d


class WriteConflictError(CommandError):
    def __init__(self, blocker=None, msg=None):
        super().__init__(112, msg or "WriteConflict error: this operation conflicted with another "
                         "operation. Please retry your operation or multi-document transaction.")
        self.blocker = blocker  # the Txn holding the conflicting lock, if any


class DuplicateKeyError(CommandError):
    def __init__(self, ns, index_name, key_pattern, key_value):
        kv = ", ".join("%s: %s" % (k, _fmt(v)) for k, v in key_value.items())
        msg = "E11000 duplicate key error collection: %s index: %s dup key: { %s }" % (ns, index_name, kv)
        super().__init__(11000, msg, {"keyPattern": key_pattern, "keyValue": key_value})


def _fmt(v):
    if isinstance(v, str):
        return '"%s"' % v
    return repr(v)


class CloseConnection(Exception):
    """Hang up on the client without replying."""


# mongod's RetriableError category
RETRIABLE_CODES = {6, 7, 89, 91, 134, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436,
                   358, 402, 406, 407, 412, 50915}
# Codes that are always a TransientTransactionError inside a transaction (isTransientTransactionError)
TRANSIENT_CODES = {112, 24, 267, 239, 246, 250, 272, 249, 13388, 150, 63, 19, 46}


def is_transient(code, has_wce, commit_or_abort):
    if code in TRANSIENT_CODES:
        return True
    if commit_or_abort:
        return code == 251 and not has_wce
    return code in RETRIABLE_CODES or code == 251


def compute_labels(cmd_name, in_txn, retryable_write, code, wce_code):
    """Port of mongod's ErrorLabelBuilder (no failpoint override)."""
    labels = []
    commit_abort = cmd_name in ("commitTransaction", "abortTransaction")
    if code is not None and in_txn and is_transient(code, wce_code is not None, commit_abort):
        labels.append("TransientTransactionError")
    elif retryable_write or (in_txn and commit_abort):
        if (code is not None and code in RETRIABLE_CODES) or (wce_code is not None and wce_code in RETRIABLE_CODES):
            labels.append("RetryableWriteError")
    return labels
