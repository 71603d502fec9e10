// SQLSTATE codes the pooler itself sends. Call sites use these names, never literals.
#pragma once

namespace pooler::protocol::sqlstate {

inline constexpr const char* kProtocolViolation = "08P01";
inline constexpr const char* kConnectionFailure = "08006";
inline constexpr const char* kCannotConnectNow = "57P03";
inline constexpr const char* kAdminShutdown = "57P01";
inline constexpr const char* kQueryCanceled = "57014";
inline constexpr const char* kInvalidPassword = "28P01";
inline constexpr const char* kInvalidAuthorization = "28000";
inline constexpr const char* kInvalidCatalogName = "3D000";
inline constexpr const char* kTooManyConnections = "53300";
inline constexpr const char* kFeatureNotSupported = "0A000";
inline constexpr const char* kInternalError = "XX000";
inline constexpr const char* kSyntaxError = "42601";
inline constexpr const char* kInsufficientPrivilege = "42501";
inline constexpr const char* kIdleInTransactionTimeout = "25P03";
inline constexpr const char* kObjectNotInPrerequisiteState = "55000";
inline constexpr const char* kConfigFileError = "F0000";
inline constexpr const char* kUndefinedObject = "42704";
inline constexpr const char* kCantChangeRuntimeParam = "55P02";
inline constexpr const char* kInvalidParameterValue = "22023";
inline constexpr const char* kInFailedSqlTransaction = "25P02";

}  // namespace pooler::protocol::sqlstate
