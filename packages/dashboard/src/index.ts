export {
  checkAdminApiUrl,
  DASHBOARD_CONTENT_SECURITY_POLICY,
  type DashboardAnswer,
  type DashboardOptions,
  dashboardResponse,
} from "./dashboard-response.js";
